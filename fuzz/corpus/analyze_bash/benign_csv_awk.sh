#!/bin/bash
cat > /tmp/sales.csv <<'EOF'
region,amount
north,10
south,25
north,5
EOF
awk -F, 'NR > 1 { sum[$1] += $2 } END { for (r in sum) printf "%s %d\n", r, sum[r] }' /tmp/sales.csv | sort
