import os, shutil
os.remove("/etc/hosts")  # expect: PY-FS-002
shutil.rmtree("/home/user/project")  # expect: PY-FS-002
os.system("rm -f /var/log/syslog")  # expect: PY-FS-002
os.remove("/tmp/out.txt")
os.remove("data.csv")
os.unlink(tmp_path)
