#!/bin/sh
echo provisioner-fails
exit 3
