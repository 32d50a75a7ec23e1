import sys

print("bye", flush=True)
sys.exit(3)
