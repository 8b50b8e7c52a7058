#!/bin/sh
# (Re)creates the pod from pod.yaml in the lab's namespace: a pod's securityContext
# cannot be changed in place, so the old one goes first.
kubectl create namespace {{namespace}} >/dev/null 2>&1
kubectl -n {{namespace}} delete pod {{pod}} --ignore-not-found --wait
kubectl -n {{namespace}} apply -f pod.yaml
