from bench.cli import main

if __name__ == "__main__":  # worker processes import this module again (multiprocessing spawn)
    raise SystemExit(main())
