"""What text becomes: the shared vocabulary (`options`, `tasks`, `estimates`: plain data, no I/O), then the `/banana`
parser and kie's prompt text (`command`), and the prompt studio's catalog (data files) and builders. Nothing here does
I/O beyond reading the catalog."""
