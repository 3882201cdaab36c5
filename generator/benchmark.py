"""`python -m generator.benchmark`, the documented command: runs `generator.reports.benchmark`."""

from generator.reports.benchmark import main

if __name__ == "__main__":
    main()
