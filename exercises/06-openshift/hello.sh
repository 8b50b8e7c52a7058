#!/bin/sh
# The lab's check runs your image and looks for this workspace's id in what it prints:
# an image built from another folder, or only tagged with the name, does not have it.
echo "hello from workspace {{id}} as uid $(id -u)"
