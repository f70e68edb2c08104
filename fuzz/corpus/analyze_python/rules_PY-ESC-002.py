g = globals()  # expect: PY-ESC-002
l = locals()  # expect: PY-ESC-002
import sys, inspect
f = sys._getframe(1)  # expect: PY-ESC-002
subs = Base.__subclasses__()  # expect: PY-ESC-002
obj.__class__.__name__
d = obj.__dict__
vars(obj)
