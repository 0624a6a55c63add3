"""tools/audit"""
