"""Many submissions of one challenge: jobs, slots, a process pool or Celery workers, the leaderboard."""
