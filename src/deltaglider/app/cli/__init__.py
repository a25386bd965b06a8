"""The `deltaglider` command: `aws s3`-style commands plus DeltaGlider's own."""
