"""What comes in from outside: a submission directory, an archive or a git repository, made plain and parsed."""
