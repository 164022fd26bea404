// The anchor of `npm run bench`: the handler a user would write by hand from the vendor's sample
// code — axios GET with the AppCode header, no validation, nothing else. Bundled with esbuild
// exactly like our functions. Do not "improve" it: it is the yardstick.
const axios = require('axios');

exports.handler = async (event) => {
  const request = JSON.parse(event.toString());
  const job = JSON.parse(request.body);
  const res = await axios.get(process.env.LONG_SMS_URL, {
    params: { param: job.params.join('|'), phone: job.phone, skin: job.skin, sign: job.sign },
    headers: { Authorization: `APPCODE ${process.env.APPCODE}` },
  });
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(res.data) };
};
