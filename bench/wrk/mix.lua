-- bench/wrk/mix.lua: the realistic mix through the gateway, the seed's way
-- (POST with the parameters in the query string): per 23 requests, 10 sends
-- to new numbers of one of 100 clients, 10 verifies of a pending code with
-- the right code and 3 with a wrong one.  bench/pgbench/mix.sql is the same
-- mix straight into PostgreSQL.
--
--   wrk -s mix.lua URL -- CLIENTS_FILE CODES_FILE NTHREADS
-- CLIENTS_FILE: "client_id api_key" per line; CODES_FILE: "client_id number
-- code wrong" per line.  Thread t of n takes every n-th code, so no code is
-- judged twice.  Requests are built before the run (wrk calls request()
-- for each one, on the same 2 cores as the gateway), and no response()
-- hook is set, which would make wrk hand every reply to Lua: the status
-- classes come from the gateway's /metrics.

local counter = 0
local SENDS = 40000

function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
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
	local clients = read_words(args[1])
	local all = read_words(args[2])
	local nthreads = tonumber(args[3]) or 1
	math.randomseed(os.time() + tid * 7919)
	sends = {}
	for i = 1, SENDS do
		local c = clients[math.random(1, #clients)]
		sends[i] = wrk.format("POST", "/api/v1/send-otp?client-id=" .. c[1] .. "&api-key=" .. c[2] ..
			"&number=" .. string.format("91%d", math.random(6000000000, 7999999999)))
	end
	right, wrong = {}, {}
	for i = 1, #all do
		if (i - 1) % nthreads == tid then
			local row = all[i]
			local path = "/api/v1/verify-otp?client-id=" .. row[1] .. "&number=" .. row[2] .. "&otp="
			table.insert(right, wrk.format("POST", path .. row[3]))
			table.insert(wrong, wrk.format("POST", path .. row[4]))
		end
	end
	next_send, next_code = 0, 0
end

function request()
	local k = math.random(1, 23)
	if k <= 10 then
		next_send = next_send % SENDS + 1
		return sends[next_send]
	end
	next_code = next_code % #right + 1
	if k <= 20 then
		return right[next_code]
	end
	return wrong[next_code]
end
