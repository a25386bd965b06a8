"""`python -m deltaglider` runs the command line."""

from deltaglider.app.cli.entry import main

main()
