eval('1 + 1'); // expect: JS-DYN-001
new Function('a', 'b', 'return a + b'); // expect: JS-DYN-001
require('vm').runInNewContext('x + 1', { x: 1 }); // expect: JS-DYN-001
const evaluate = (e) => e; evaluate('2');
JSON.parse('{"a": 1}');
const m = { eval: () => 1 }; m.eval();
