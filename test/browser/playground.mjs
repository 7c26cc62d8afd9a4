// Drives the playground page served by the gateway at GET / in headless
// Chromium: send a code to a number, read it from the console pane's
// message_simulated, try a wrong code, verify the right one, and check the
// rate-limit countdown and the single-use rule.  Takes a full-page screenshot.
//
// Environment:
//   JUSTAUTH_PLAYGROUND_URL  base URL of the gateway (required), e.g. http://127.0.0.1:8080
//   JUSTAUTH_TEST_NUMBER     number to verify (default 919876543210)
//   JUSTAUTH_SCREENSHOT      screenshot path (default /tmp/justauth-playground.png)
//   CHROMIUM                 browser binary (default /usr/bin/chromium)
//
// Prints one line per check, "PASS <name>" or "FAIL <name>: <detail>", then
// "SUMMARY passed=N failed=M"; exits 0 only when every check passed.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const base = (process.env.JUSTAUTH_PLAYGROUND_URL || '').replace(/\/+$/, '');
const number = process.env.JUSTAUTH_TEST_NUMBER || '919876543210';
const shot = process.env.JUSTAUTH_SCREENSHOT || '/tmp/justauth-playground.png';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let passed = 0;
let failed = 0;

function check(name, cond, detail) {
	if (cond) {
		passed++;
		console.log(`PASS ${name}`);
	} else {
		failed++;
		console.log(`FAIL ${name}: ${detail === undefined ? 'condition false' : detail}`);
	}
	return cond;
}

function finish(code) {
	console.log(`SUMMARY passed=${passed} failed=${failed}`);
	process.exit(code);
}

if (!base) {
	console.log('FAIL setup: JUSTAUTH_PLAYGROUND_URL is not set');
	failed++;
	finish(2);
}
if (!fs.existsSync(executablePath)) {
	console.log(`FAIL setup: no browser at ${executablePath} (install Debian's chromium: apt-get install -y chromium)`);
	failed++;
	finish(2);
}

const origin = new URL(base).origin;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'justauth-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
	executablePath,
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1280, height: 900 },
	timeout: 60000,
});

const requests = [];
const pageErrors = [];
let exitCode = 1;

try {
	const page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(15000);
	page.on('request', (r) => requests.push(r.url()));
	page.on('pageerror', (e) => pageErrors.push(String(e)));
	page.on('console', (m) => {
		/* Chromium logs every 4xx reply as an error; those are expected here. */
		if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
			pageErrors.push(m.text());
	});

	const resp = await page.goto(base + '/', { waitUntil: 'load' });
	check('GET / answers 200', resp && resp.status() === 200, resp && resp.status());
	check('GET / is HTML', /^text\/html/.test((resp && resp.headers()['content-type']) || ''),
		resp && resp.headers()['content-type']);
	check('title names JustAuth', /JustAuth/.test(await page.title()), await page.title());

	/* The product page content of the seed. */
	const bodyText = await page.locator('body').innerText();
	for (const text of [
		'Connect JustAuth to verify your users over WhatsApp.',
		'Test the full send-and-verify flow below, then copy the reference into your stack.',
		'Send a test verification code and confirm it — no account required. Responses appear in the console in real time.',
		'User enters their number',
		'Your backend calls JustAuth with the user\'s number.',
		'The user enters the code on your page.',
		'All requests use HTTPS with query parameters. Responses are JSON.',
		'/api/v1/send-otp',
		'/api/v1/verify-otp',
		'Drop these templates into your backend to wire up send and verify in minutes.',
		'Ready to go live?',
		'Create account & fund wallet',
	])
		check(`page shows "${text}"`, bodyText.includes(text));

	/* Snippets: the seed's three, pointing at this server. */
	const snippets = {};
	for (const id of ['snip-js', 'snip-py', 'snip-curl'])
		snippets[id] = await page.locator('#' + id).textContent();
	check('JS snippet uses this origin',
		snippets['snip-js'].includes('`' + origin + '/api/v1/send-otp?client-id=YOUR_CLIENT_ID&api-key=YOUR_API_KEY&number=${phoneNumber}`'),
		snippets['snip-js'].slice(0, 200));
	check('Python snippet uses this origin',
		snippets['snip-py'].includes('f"' + origin + '/api/v1/verify-otp?client-id=YOUR_CLIENT_ID&number={phone_number}&otp={code}"'));
	check('curl snippet uses this origin',
		snippets['snip-curl'].includes('curl -X POST "' + origin + '/api/v1/send-otp?client-id=YOUR_CLIENT_ID&api-key=YOUR_API_KEY&number=919876543210"'));
	check('no snippet keeps the placeholder host',
		!Object.values(snippets).some((s) => s.includes('otp.justauth.in')));
	await page.getByRole('tab', { name: 'Python' }).click();
	check('Python tab shows the Python snippet', await page.locator('#snip-py').isVisible() && !(await page.locator('#snip-js').isVisible()));
	await page.getByRole('tab', { name: 'JavaScript' }).click();

	const numberBox = page.getByLabel('Phone number');
	const otpBox = page.getByLabel('Verification code');
	const sendBtn = page.getByRole('button', { name: 'Send code', exact: true });
	const verifyBtn = page.getByRole('button', { name: 'Verify', exact: true });
	const entries = page.locator('#console .entry');
	const status = page.locator('#status');

	/* Clicks, then waits for the console entry of that request to get its reply. */
	async function exchange(click) {
		const before = await entries.count();
		await click();
		const entry = entries.nth(before);
		await entry.locator('.code-badge').waitFor();
		const raw = await entry.locator('pre').textContent();
		let body = null;
		try {
			body = JSON.parse(raw);
		} catch (e) {
			body = null;
		}
		return {
			path: await entry.locator('.p').textContent(),
			status: Number(await entry.locator('.code-badge').getAttribute('data-status')),
			badge: await entry.locator('.code-badge').textContent(),
			raw,
			body,
		};
	}

	/* A malformed number is refused and shown as such. */
	await numberBox.fill('12345');
	let r = await exchange(() => sendBtn.click());
	check('bad number: console shows the request path', r.path === '/playground/send-otp?number=12345', r.path);
	check('bad number: 400 invalid_number in the console', r.status === 400 && r.body && r.body.error === 'invalid_number', r.raw);
	check('bad number: console shows the status code', /^400\b/.test(r.badge), r.badge);
	check('bad number: the field is marked invalid', (await numberBox.getAttribute('aria-invalid')) === 'true');

	/* Send a code and read it from message_simulated in the console pane. */
	await numberBox.fill(number);
	r = await exchange(() => sendBtn.click());
	check('send: 200 in the console', r.status === 200 && /^200\b/.test(r.badge), `${r.status} ${r.badge}`);
	check('send: success true', r.body && r.body.success === true, r.raw);
	const sim = (r.body && r.body.message_simulated) || '';
	const m = /^Your verification code is (\d{6})\. It will expire in 2 minutes$/.exec(sim);
	check('send: message_simulated in the seed wording', m !== null, sim);
	check('send: request_id is a UUID', r.body && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(r.body.request_id || ''), r.raw);
	check('send: expires_in is 120', r.body && r.body.expires_in === 120, r.raw);
	check('send: no API key reaches the browser', !/sk_(test|live)_/.test(r.raw) && !/api[-_]key/i.test(r.path), r.raw);
	check('send: status tells the code was sent', /Code sent/.test(await status.textContent()), await status.textContent());
	check('send: simulated WhatsApp bubble shows the message', (await page.locator('#sim-text').textContent()) === sim);
	const code = m ? m[1] : '000000';

	/* A wrong code: invalid_otp with the attempts left. */
	const wrong = code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
	await otpBox.fill(wrong);
	r = await exchange(() => verifyBtn.click());
	check('wrong code: console shows the request path',
		r.path === `/playground/verify-otp?number=${number}&otp=${wrong}`, r.path);
	check('wrong code: 400 invalid_otp', r.status === 400 && r.body && r.body.error === 'invalid_otp', r.raw);
	check('wrong code: attempts_left is 4', r.body && r.body.attempts_left === 4, r.raw);
	check('wrong code: status says so', /Wrong code/.test(await status.textContent()) && /invalid_otp/.test(await status.textContent()) &&
		/4 attempts left/.test(await status.textContent()), await status.textContent());
	check('wrong code: status is styled as an error', (await status.getAttribute('data-tone')) === 'bad');

	/* The right code. */
	await otpBox.fill(code);
	r = await exchange(() => verifyBtn.click());
	check('verify: 200 in the console', r.status === 200, r.raw);
	check('verify: "OTP Verified" in the console', r.body && r.body.success === true && r.body.message === 'OTP Verified' &&
		r.raw.includes('"OTP Verified"'), r.raw);
	check('verify: status approved', r.body && r.body.status === 'approved', r.raw);
	await page.getByText('OTP Verified', { exact: false }).first().waitFor();
	check('verify: "OTP Verified" shown to the user', /OTP Verified/.test(await status.textContent()) &&
		(await status.getAttribute('data-tone')) === 'ok', await status.textContent());

	/* A code is good once. */
	r = await exchange(() => verifyBtn.click());
	check('verify again: 404 otp_not_found', r.status === 404 && r.body && r.body.error === 'otp_not_found', r.raw);

	/* Resending at once hits the cooldown: countdown and a disabled button. */
	r = await exchange(() => sendBtn.click());
	check('resend: 429 rate_limited with retry_after', r.status === 429 && r.body && r.body.error === 'rate_limited' &&
		Number.isInteger(r.body.retry_after) && r.body.retry_after > 0, r.raw);
	check('resend: countdown shown', /try again in \d+ s/.test(await status.textContent()), await status.textContent());
	check('resend: Send code is disabled during the countdown', await sendBtn.isDisabled());
	const left1 = Number(await page.locator('#retry-left').textContent());
	check('resend: countdown starts at retry_after', r.body && left1 <= r.body.retry_after && left1 > 0, `${left1} vs ${r.raw}`);
	if (left1 > 1) {
		await page.waitForFunction((v) => {
			const el = document.getElementById('retry-left');
			return el && Number(el.textContent) < v;
		}, left1, { timeout: 5000 }).then(() => true, () => false).then((ok) => check('resend: countdown ticks down', ok));
	}

	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: shot, fullPage: true });
	check('screenshot written', fs.existsSync(shot) && fs.statSync(shot).size > 10000, shot);

	const foreign = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'));
	check('no request leaves the page\'s origin', foreign.length === 0, foreign.join(' '));
	check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join(' | '));
	exitCode = failed === 0 ? 0 : 1;
} catch (e) {
	check('browser run completes', false, e && e.stack ? e.stack.split('\n').slice(0, 4).join(' ') : String(e));
	exitCode = 1;
} finally {
	await context.close().catch(() => {});
	fs.rmSync(profile, { recursive: true, force: true });
}
finish(exitCode);
