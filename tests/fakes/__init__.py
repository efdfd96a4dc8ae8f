"""Local fakes of cloud services the tests drive through the real SDKs (ARM over HTTPS, moto)."""
