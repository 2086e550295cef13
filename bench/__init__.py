"""madvise-lab's benchmark suite: `python3 -m bench` prints a table and writes bench/results/latest.json."""
