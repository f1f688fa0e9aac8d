"""daifu's web side: landing pages, QR images, the sandbox checkout, provider notify endpoints."""
