2#!/bin/bash
fruits=(apple banana cherry)
fruits+=(date)
for f in "${fruits[@]}"; do
  printf '%-10s %d\n' "$f" "${#f}"
done
echo "count: ${#fruits[@]}"
