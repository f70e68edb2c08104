python3 -c 'import os; os.system("node -e \"require(1)\"")'
