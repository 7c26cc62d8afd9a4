-- bench/wrk/mix.lua: the realistic mix through the gateway, the seed's way
-- (POST with the parameters in the query string): per 23 requests, 10 sends
-- to new numbers of one of 100 clients, 10 verifies of a pending code with
-- the right code and 3 with a wrong one.  bench/pgbench/mix.sql is the same
-- mix straight into PostgreSQL.
--
--   wrk -s mix.lua URL -- CLIENTS_FILE CODES_FILE
-- CLIENTS_FILE: "client_id api_key" per line; CODES_FILE: "client_id number
-- code wrong" per line.  Thread t of n takes every n-th code, so no code is
-- judged twice.

local threads = {}
local counter = 0

function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

local function read_words(path)
	local rows = {}
	for line in io.lines(path) do
		local row = {}
		for w in line:gmatch("%S+") do
			table.insert(row, w)
		end
		if #row > 0 then
			table.insert(rows, row)
		end
	end
	return rows
end

function init(args)
	clients = read_words(args[1])
	local all = read_words(args[2])
	local nthreads = tonumber(args[3]) or 1
	codes = {}
	for i = 1, #all do
		if (i - 1) % nthreads == tid then
			table.insert(codes, all[i])
		end
	end
	next_code = 0
	math.randomseed(os.time() + tid * 7919)
	ok2xx = 0
	bad4xx = 0
	err5xx = 0
end

function request()
	local k = math.random(1, 23)
	if k <= 10 then
		local c = clients[math.random(1, #clients)]
		local n = string.format("91%d", math.random(6000000000, 7999999999))
		return wrk.format("POST", "/api/v1/send-otp?client-id=" .. c[1] .. "&api-key=" .. c[2] ..
			"&number=" .. n)
	end
	next_code = next_code % #codes + 1
	local row = codes[next_code]
	local otp = (k <= 20) and row[3] or row[4]
	return wrk.format("POST", "/api/v1/verify-otp?client-id=" .. row[1] .. "&number=" .. row[2] ..
		"&otp=" .. otp)
end

function response(status, headers, body)
	if status < 300 then
		ok2xx = ok2xx + 1
	elseif status < 500 then
		bad4xx = bad4xx + 1
	else
		err5xx = err5xx + 1
	end
end

function done(summary, latency, requests)
	local a, b, c = 0, 0, 0
	for _, t in ipairs(threads) do
		a = a + t:get("ok2xx")
		b = b + t:get("bad4xx")
		c = c + t:get("err5xx")
	end
	io.write(string.format("status classes: 2xx %d, 4xx %d, 5xx %d\n", a, b, c))
end
