"""audit_chain"""
