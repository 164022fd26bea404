// The floor of `npm run bench`: what nothing can beat. One HTTPS GET with Node's own `https`
// (the same request the baseline makes: query string, AppCode header, JSON answer) and nothing
// else: no dependency, no validation, no log line. Spawn → require → first answer → exit of this
// file is bare Node plus one TLS handshake; our cold start is measured against it.
// Do not "improve" it either: it is the other yardstick.
const https = require('node:https');

exports.handler = (event) =>
  new Promise((resolve, reject) => {
    const job = JSON.parse(JSON.parse(event.toString()).body);
    const query = new URLSearchParams({ param: job.params.join('|'), phone: job.phone, skin: job.skin, sign: job.sign });
    const req = https.get(
      `${process.env.LONG_SMS_URL}?${query}`,
      { headers: { Authorization: `APPCODE ${process.env.APPCODE}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ statusCode: 200, headers: { 'content-type': 'application/json' }, body }));
      },
    );
    req.on('error', reject);
  });
