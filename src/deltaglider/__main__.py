"""`python -m deltaglider` runs the command line."""

from deltaglider.app.cli.main import main

main()
