#!/bin/bash
printf 'alice 30\nbob 25\ncarol 35\n' > /tmp/people.txt
while read -r name age; do
  if [ "$age" -gt 28 ]; then echo "$name is over 28"; fi
done < /tmp/people.txt
