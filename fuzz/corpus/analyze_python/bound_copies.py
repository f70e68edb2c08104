a = 'x' * 262000
b = a
print(a, a, a, a)
c = f'{a}{a}'
d = '%s%s' % (a, a)
e = ''.join([a, a])
l = [1]
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
l = l + l
def g():
    h = a
    def f(): return h
    return f
exec('x = ' + repr(a))
