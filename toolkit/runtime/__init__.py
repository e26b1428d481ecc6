"""Processes and launchers: the process group for every launch form, hostfiles, Slurm node lists."""
