0import csv
import io
import statistics

DATA = """name,dept,salary
alice,eng,120
bob,eng,100
carol,ops,90
dave,ops,95
"""

rows = list(csv.DictReader(io.StringIO(DATA)))
by_dept = {}
for row in rows:
    by_dept.setdefault(row["dept"], []).append(int(row["salary"]))
for dept, values in sorted(by_dept.items()):
    print(dept, statistics.mean(values), max(values))
