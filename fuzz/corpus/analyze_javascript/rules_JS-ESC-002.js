const o = {}; o.__proto__.isAdmin = true; // expect: JS-ESC-002
[].constructor.constructor('return 1')(); // expect: JS-ESC-002
Object.prototype.polluted = 1; // expect: JS-ESC-002
const proto = Object.getPrototypeOf({}); console.log(proto);
class A { constructor() { this.x = 1; } }
