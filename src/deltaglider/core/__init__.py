"""The domain: DeltaService and its models, policy, metadata format and errors.

Pure Python; depends on nothing in the project but `deltaglider.ports`.
"""
