// Browser test: log into the console in headless Chromium (Debian's) and check the pages:
// the overview's five packages, a package's items, … and 运维 (live board, SLA clocks,
// maintenance calendar, publishing a notice).
// usage: node .ci/browser-test.mjs BASE_URL USER PASSWORD [SCREENSHOT_DIR]
import { createRequire } from 'node:module';
const require = createRequire(process.env.PLAYWRIGHT_CORE_DIR ? process.env.PLAYWRIGHT_CORE_DIR + '/' : import.meta.url);
const { chromium } = require('playwright-core');
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, user, password, shots] = process.argv.slice(2);
if (!base || !user || !password) {
  console.error('usage: node browser-test.mjs BASE_URL USER PASSWORD [SCREENSHOT_DIR]');
  process.exit(2);
}
const fail = (msg) => { console.error(`browser test FAILED: ${msg}`); process.exitCode = 1; };

const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'gc-chromium-')), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1366, height: 768 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`ok - ${what}`); } else { failed++; fail(what); } };
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // HTTP errors on purpose (the refused login's 401) show as console messages; only script errors count.

  await page.goto(`${base}/`);
  check(page.url().includes('/login'), 'an anonymous visit is sent to the login page');

  await page.fill('#username', user);
  await page.fill('#password', 'wrong password, surely');
  await page.click('#login');
  check((await page.textContent('.error'))?.includes('用户名或密码错误'), 'a wrong password is refused in Chinese');

  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('#login')]);
  const cards = await page.locator('#packages [data-package]').count();
  check(cards === 5, `the overview shows five package cards (saw ${cards})`);
  const count = (await page.textContent('#package-count'))?.trim();
  check(count === '5', `the overview counts five packages (saw ${count})`);
  for (const n of [1, 2, 3, 4, 5]) {
    check(await page.locator(`[data-package="${n}"]`).isVisible(), `package ${n} is visible`);
  }
  const body = await page.textContent('body');
  check(body.includes('86.498 万元') && body.includes('¥864,980.00'), 'package 2 budget shown in 万元 and 元 with two decimals');
  check(body.includes('暂定'), 'a due date through the unpublished 2027 calendar is marked provisional');
  if (shots) await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  await page.click('[data-package="2"]');
  await page.waitForURL(`${base}/packages/2`);
  const rows = await page.locator('table.items tbody tr').count();
  check(rows === 35, `package 2 lists 35 line items (saw ${rows})`);
  if (shots) await page.screenshot({ path: `${shots}/package-2.png`, fullPage: false });

  await page.goto(`${base}/packages/5`);
  check((await page.textContent('#item-p5-ai-fp16'))?.includes('9.6'), 'package 5 rents 9.6 TFLOP');
  if (shots) await page.screenshot({ path: `${shots}/package-5.png`, fullPage: false });

  await page.goto(`${base}/crypto`);
  const crypto = await page.textContent('main');
  check(crypto.includes('交易平台信息系统（演示）') && crypto.includes('sm2-sign'), 'the demo apps and their keys show on 密码服务');
  check(!crypto.includes('gca_'), 'no app credential is shown on 密码服务');
  if (shots) await page.screenshot({ path: `${shots}/crypto.png`, fullPage: false });
  await page.goto(`${base}/pki`);
  const pki = await page.textContent('main');
  check(pki.includes('个人数字证书') && pki.includes('200') && pki.includes('govcloud SM2 签发 CA'), '证书服务 shows contracted quantities and the platform CAs');
  if (shots) await page.screenshot({ path: `${shots}/pki.png`, fullPage: false });

  await page.goto(`${base}/resources?system=jypt`);
  const resources = await page.textContent('main');
  check(resources.includes('合同数量与分配') && await page.locator('#lines meter').count() >= 10,
    '资源 shows each line item of the system with a bar');
  check(await page.locator('nav.tabs a').count() === 4, '资源 offers the four cloud business systems');
  if (shots) await page.screenshot({ path: `${shots}/resources.png`, fullPage: false });

  await page.goto(`${base}/payments?package=1`);
  check(await page.locator('#milestones tbody tr').count() === 3 && await page.locator('#milestones .status').count() === 3,
    '付款与验收 shows package 1\'s three milestones with a status badge each');
  // Record the stage acceptance with a document through the form (multipart, as a person would).
  const beijingToday = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  await page.selectOption('#acceptance-form select[name=kind]', 'stage');
  await page.fill('#acceptance-form input[name=accepted_on]', beijingToday);
  await page.fill('#acceptance-form input[name=note]', '浏览器测试：阶段性验收');
  await page.setInputFiles('#acceptance-form input[type=file]',
    { name: '阶段性验收报告.txt', mimeType: 'text/plain', buffer: Buffer.from('阶段性验收通过') });
  await page.click('#acceptance-form button[type=submit]');
  await page.waitForSelector('p.ok, p.error');
  check((await page.textContent('.ok'))?.includes('已登记阶段性验收') &&
    /[0-9a-f]{64}/.test(await page.textContent('#acceptances code.sm3')) &&
    (await page.textContent('#milestone-2 .status')) === '应付',
    '付款与验收 records an acceptance with its document: the SM3 is shown and 中期款 becomes 应付');
  if (shots) await page.screenshot({ path: `${shots}/payments.png`, fullPage: true });

  await page.goto(`${base}/gateway`);
  const gw = await page.textContent('main');
  check(gw.includes('运行中的密码前置实例 1 个'), '接口监控 shows the running gateway replica');
  check(await page.locator('#nodes tbody tr').count() === 1 && (await page.textContent('#nodes tbody tr')).includes('正常'),
    '接口监控 lists the node, healthy with a closed circuit');
  check(await page.locator('#apps tbody tr').count() >= 2, '接口监控 lists the apps with their calls this month');
  const stamp = await page.textContent('#live p.muted');
  await page.waitForTimeout(2600);
  check(stamp !== await page.textContent('#live p.muted'), '接口监控 refreshes itself every 2 s');
  if (shots) await page.screenshot({ path: `${shots}/gateway.png`, fullPage: true });

  await page.goto(`${base}/statements?month=2026-10`);
  check((await page.textContent('main')).includes('演示价格'), '月度服务明细 says the demo prices are demo prices');
  await page.click('#generate button[type=submit]');
  await page.waitForSelector('#generated', { timeout: 30000 });
  check((await page.textContent('#generated')).includes('st-2026-10-p1-jypt-v1') && await page.locator('#statements tbody tr').count() === 6,
    'generating October issues six statements (one per package and system)');
  if (shots) await page.screenshot({ path: `${shots}/statements.png`, fullPage: true });
  await page.goto(`${base}/statements/st-2026-10-p1-jypt-v1`);
  check((await page.textContent('#verification')).includes('验证通过') && (await page.textContent('#total')).includes('大写'),
    'a statement shows its verified signature and timestamp and the total in capitals');
  const pdf = await page.request.get(`${base}/api/v1/statements/st-2026-10-p1-jypt-v1/files/pdf`);
  check(pdf.status() === 200 && pdf.headers()['content-type'] === 'application/pdf', 'the statement PDF downloads');
  if (shots) await page.screenshot({ path: `${shots}/statement.png`, fullPage: true });

  // 运维: the demo monitors on the live board, October's incidents with their SLA clocks,
  // the maintenance calendar, an incident's timeline, and a notice published through the form.
  await page.goto(`${base}/ops`);
  const ops = await page.textContent('main');
  check(ops.includes('govcloud 健康检查（演示）') && ops.includes('专家库端口（演示）') &&
    await page.locator('#monitors tbody tr').count() === 2, '运维 shows the two demo monitors on the status board');
  // The board refreshes itself: wait for htmx to swap the live part, then see the new time.
  const opsStamp = await page.textContent('#ops-stamp');
  const swapped = await page.evaluate(() => new Promise((resolve) => {
    const live = document.getElementById('live');
    const timer = setTimeout(() => resolve(false), 12000);
    live.addEventListener('htmx:afterSwap', () => { clearTimeout(timer); resolve(true); }, { once: true });
  }));
  check(swapped && opsStamp !== await page.textContent('#ops-stamp'), '运维 refreshes the board and the SLA clocks every 5 s (htmx swap)');
  if (shots) await page.screenshot({ path: `${shots}/ops.png`, fullPage: true });

  await page.goto(`${base}/ops?month=2026-10`);
  const inc1 = page.locator('#incident-INC-000001');
  check(await inc1.count() === 1 && (await inc1.textContent()).includes('超时') && await inc1.locator('.status.breached').count() >= 1,
    'October shows INC-000001 with its restore clock breached (超时, in red)');
  check(await inc1.locator('a[href="/api/v1/incidents/INC-000001/report"]').count() === 1, 'the closed outage links its outage report PDF');
  const cal = await page.textContent('#calendar');
  check(cal.includes('交易平台数据库版本升级（演示）') && cal.includes('交易平台安全补丁紧急修复（演示）'),
    'the calendar of 2026-10 shows October\'s two notices');
  check(await page.locator('#calendar td[data-date="2026-10-28"] .ntc.emergency').count() === 1 &&
    (await page.textContent('#calendar td[data-date="2026-10-28"]')).includes('紧急变更'), 'the emergency change is marked 紧急变更 on its day');
  check(await page.locator('#calendar td.kp[data-date="2026-10-01"]').count() === 1 &&
    (await page.textContent('#calendar td[data-date="2026-10-01"]')).includes('十一'), 'the key period 十一 is shaded with its name');
  check(await page.locator('#calendar thead th').first().textContent() === '周一', 'the calendar starts on Monday');
  if (shots) await page.screenshot({ path: `${shots}/ops-2026-10.png`, fullPage: true });
  const report = await page.request.get(`${base}/api/v1/ops/report?month=2026-10&package=1&format=xlsx`);
  check(report.status() === 200 && (await report.body()).length > 1000, 'the monthly report of October downloads as XLSX');

  await Promise.all([page.waitForURL(`${base}/ops/incidents/INC-000001`), page.click('#incident-INC-000001 a[href="/ops/incidents/INC-000001"]')]);
  check(await page.locator('#timeline tbody tr').count() === 5 && (await page.textContent('#clocks')).includes('超时') &&
    (await page.textContent('#outage-report')).includes('连接池'), 'an incident page shows its timeline, clocks and outage report');
  if (shots) await page.screenshot({ path: `${shots}/ops-incident.png`, fullPage: true });

  await page.goto(`${base}/ops`);
  await page.click('#notice-panel summary');
  const beijing = (ms) => new Date(ms + 8 * 3600e3).toISOString().slice(0, 16);
  const title = `浏览器测试：存储扩容 ${Date.now()}`;
  await page.fill('#notice-form input[name=title]', title);
  await page.check('#notice-form input[name=systems][value=jypt]');
  await page.fill('#notice-form input[name=start]', beijing(Date.now() + 25 * 3600e3));
  await page.fill('#notice-form input[name=end]', beijing(Date.now() + 27 * 3600e3));
  await page.fill('#notice-form textarea[name=impact]', '交易平台只读 2 小时');
  await page.fill('#notice-form textarea[name=rollback]', '恢复扩容前快照');
  // Whatever day this runs on: a key period then needs a reason.
  await page.fill('#notice-form input[name=override_reason]', '浏览器测试');
  await page.click('#notice-form button[type=submit]');
  await page.waitForSelector('p.ok, p.error');
  check((await page.textContent('main')).includes('已发布维护通知') && (await page.textContent('#notices')).includes(title) &&
    (await page.textContent('#calendar')).includes(title), 'a notice 25 h ahead is published through the form and shows in the calendar');
  if (shots) await page.screenshot({ path: `${shots}/ops-notice.png`, fullPage: true });

  check(errors.length === 0, `no script errors on the pages (${errors.join('; ')})`);
} catch (e) {
  failed++;
  fail(String(e));
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
