2#!/bin/bash
s=x
while true; do
  s="$s$s"
done
