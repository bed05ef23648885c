"""Tests of the Freshdesk adapter."""
