"""Two-factor authentication (issue 21): a code from an authenticator app (TOTP) or a single-use
recovery code after the password, enrolment on /account/security/, and who must have it.

Why django-otp (pinned 1.7.5): it is small, maintained (Jazzband), and adds a second factor to the
login we already have (Django's LoginView, django-axes' lockout, the audit receivers) instead of
replacing it; its devices and their replay protection (a TOTP code is accepted once) and
exponential throttling live in its own tables. django-allauth's MFA would bring its whole account
flow and replace our login. qrcode (pinned 8.2, pure Python, no Pillow) draws the enrolment QR
code as inline SVG, which the strict Content-Security-Policy allows (no script, no style
attribute). WebAuthn (security keys, passkeys) is left out: django-otp's core has no WebAuthn
device.

The pieces:
- devices: the rules (who must have a second factor, enrolment, the sign-in's code step with its
  lockout, recovery codes, removal) and their audit events;
- middleware: SecondFactorMiddleware, after django-otp's OTPMiddleware, sends a session to the
  code step or to enrolment before the pages that need it;
- forms, views, urls: the code step (/account/two-factor/) and the security page.

Secrets: a TOTP key and the recovery codes exist only in django-otp's tables (otp_totp_totpdevice,
otp_static_statictoken) and on the page that shows them once; never in the session, the audit
trail, axes' attempt rows (settings.AXES_SENSITIVE_PARAMETERS masks the posted code) or a log.
"""
