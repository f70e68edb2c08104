exec("x = 1")  # expect: PY-DYN-001
eval("1 + 1")  # expect: PY-DYN-001
code = compile("y = 2", "<s>", "exec")  # expect: PY-DYN-001
import builtins
builtins.eval("3")  # expect: PY-DYN-001
model.eval()
import ast
ast.literal_eval("[1, 2]")
import re
re.compile("a+")
text = "eval"
def evaluate(x): return x
evaluate("1")
