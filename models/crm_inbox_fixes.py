"""What to do about a provider or login error, in the user's language.

The engine (``engine.oauth.error_fix_code``, ``server_auth_fix_code``, the ``hint`` of
``engine.errors.AuthenticationFailed``) names the fix with a code; the sentences live
here, as translatable terms (``i18n/crm_inbox.pot``).
"""

from odoo.tools.translate import LazyTranslate

_lt = LazyTranslate(__name__)

RECONNECT = _lt("Reconnect the account (Sign in again) to grant a new authorization.")

#: ``{fix code: (sentence, add RECONNECT)}``
FIXES = {
    "aadsts_50076": (
        _lt(
            "Your organization requires multi-factor authentication (MFA) for this sign-in. Reconnect the account and complete the MFA prompt."
        ),
        False,
    ),
    "aadsts_50079": (
        _lt(
            "Your organization requires you to register for multi-factor authentication (MFA). Reconnect the account and follow the MFA registration steps, or ask your Microsoft 365 administrator."
        ),
        False,
    ),
    "aadsts_65001": (
        _lt(
            "The app has not been granted consent for mail access (IMAP.AccessAsUser.All, SMTP.Send). Reconnect and accept the consent screen; if your organization blocks user consent, a Microsoft 365 administrator must grant admin consent to the app (Entra ID > Enterprise applications > Permissions)."
        ),
        False,
    ),
    "aadsts_700082": (
        _lt("The saved Microsoft authorization expired because it was not used for 90 days."),
        True,
    ),
    "aadsts_70008": (
        _lt("The saved Microsoft authorization (authorization code or refresh token) expired."),
        True,
    ),
    "aadsts_50173": (
        _lt(
            "The Microsoft authorization was revoked, usually because the password was changed or reset, or an administrator revoked sessions."
        ),
        True,
    ),
    "aadsts_50133": (
        _lt("The Microsoft session is no longer valid (expired or recent password change)."),
        True,
    ),
    "aadsts_7000215": (
        _lt(
            "The client secret configured in Odoo is wrong or expired. An administrator must create a new client secret in Entra ID (App registrations > Certificates & secrets) and paste its Value (not its Secret ID) into the settings."
        ),
        False,
    ),
    "aadsts_7000222": (
        _lt(
            "The client secret configured in Odoo has expired. An administrator must create a new client secret in Entra ID (App registrations > Certificates & secrets)."
        ),
        False,
    ),
    "aadsts_50020": (
        _lt(
            "This Microsoft account does not belong to the tenant the app is configured for. Sign in with an account of your organization, or an administrator must set the tenant to 'common' (or invite the account as a guest)."
        ),
        False,
    ),
    "aadsts_90072": (
        _lt(
            "This Microsoft account does not exist in the tenant the app is configured for (often a personal Outlook.com account on a work-only app). Use a work account of that organization, or an administrator must allow personal accounts / use the 'common' tenant, or invite the account as a guest."
        ),
        False,
    ),
    "aadsts_53003": (
        _lt(
            "Access was blocked by your organization's Conditional Access policies (device, location or app restrictions). Ask your Microsoft 365 administrator to allow this app."
        ),
        False,
    ),
    "aadsts_50011": (
        _lt(
            "The redirect URI of Odoo is not registered on the app. An administrator must add Odoo's callback URL under Entra ID > App registrations > Authentication."
        ),
        False,
    ),
    "aadsts_700016": (
        _lt(
            "The application (client) id is not known in this tenant. An administrator must check the client id and tenant in the settings, or grant the app in the tenant."
        ),
        False,
    ),
    "aadsts_50034": (
        _lt("This Microsoft account does not exist. Check the address you signed in with."),
        False,
    ),
    "aadsts_50057": (
        _lt("This Microsoft account is disabled. Ask your administrator to enable it."),
        False,
    ),
    "aadsts_50053": (
        _lt(
            "This Microsoft account is locked (too many sign-in attempts). Wait and try again, or ask your administrator."
        ),
        False,
    ),
    "aadsts_500011": (
        _lt(
            "The requested mail permissions belong to Exchange Online, which is not available in this tenant. The mailbox needs an Exchange Online license."
        ),
        False,
    ),
    "google_invalid_grant": (
        _lt(
            "Google refused the saved authorization: it was revoked (access removed at myaccount.google.com > Security > Third-party access, or password changed) or it expired. If the app's OAuth consent screen is in 'Testing' status, Google expires refresh tokens after 7 days: an administrator must publish it 'In production'. Tokens unused for 6 months also expire."
        ),
        True,
    ),
    "google_invalid_client": (
        _lt(
            "The Google OAuth client id or secret configured in Odoo is wrong or was deleted. An administrator must copy them again from Google Cloud Console > APIs & Services > Credentials (client type 'Web application')."
        ),
        False,
    ),
    "google_unauthorized_client": (
        _lt(
            "This OAuth client may not be used this way: in Google Cloud Console its type must be 'Web application' and the Gmail API scope must be allowed; for Google Workspace, an administrator may have to trust the app (Admin console > Security > API controls)."
        ),
        False,
    ),
    "google_admin_policy_enforced": (
        _lt(
            "Your Google Workspace administrator blocks this app. Ask them to trust it in Admin console > Security > API controls."
        ),
        False,
    ),
    "google_redirect_uri_mismatch": (
        _lt(
            "Odoo's callback URL is not in the client's 'Authorized redirect URIs'. An administrator must add it in Google Cloud Console > Credentials."
        ),
        False,
    ),
    "google_missing_refresh_token": (
        _lt(
            "Google returned no refresh token. Remove the app at myaccount.google.com/permissions, then reconnect the account."
        ),
        False,
    ),
    "microsoft_invalid_grant": (
        _lt("Microsoft refused the saved authorization (expired, revoked or password changed)."),
        True,
    ),
    "microsoft_invalid_client": (
        _lt(
            "The Microsoft client id or secret configured in Odoo is wrong or expired. An administrator must create a new client secret in Entra ID and paste its Value."
        ),
        False,
    ),
    "microsoft_unauthorized_client": (
        _lt(
            "The Entra ID app is not allowed to use this flow: an administrator must check the app registration (web platform, supported account types)."
        ),
        False,
    ),
    "microsoft_invalid_authority": (
        _lt(
            "The Microsoft tenant configured in Odoo was not found. An administrator must check the tenant (use 'common' for multi-tenant apps)."
        ),
        False,
    ),
    "access_denied": (
        _lt(
            "Access was declined on the consent screen (or an administrator blocks this app). Reconnect and allow access to your mail."
        ),
        False,
    ),
    "consent_required": (
        _lt(
            "Consent is required. Reconnect and accept the consent screen, or ask an administrator to grant consent for the organization."
        ),
        False,
    ),
    "interaction_required": (_lt("The provider needs you to sign in interactively."), True),
    "login_required": (_lt("The provider needs you to sign in again."), True),
    "invalid_scope": (
        _lt(
            "The requested mail permissions are not allowed for this app. An administrator must check the app's API permissions / scopes."
        ),
        False,
    ),
    "state_mismatch": (
        _lt(
            "The sign-in answer did not match the request (expired, reused or forged link). Start the connection again from Odoo."
        ),
        False,
    ),
    "invalid_id_token": (
        _lt("The sign-in answer could not be verified. Start the connection again."),
        False,
    ),
    "temporarily_unavailable": (
        _lt("The provider is temporarily unavailable. Try again later."),
        False,
    ),
    "server_error": (_lt("The provider had an internal error. Try again later."), False),
    "invalid_grant": (_lt("The saved authorization was refused (expired or revoked)."), True),
    "client_rejected": (
        _lt(
            "The OAuth client id or secret configured in Odoo is wrong, expired or not allowed for this flow. An administrator must check the OAuth settings."
        ),
        False,
    ),
    "oauth_token_refused": (
        _lt(
            "The mail server refused the OAuth access token (expired, revoked or without mail scope)."
        ),
        True,
    ),
    "imap_disabled": (
        _lt(
            "IMAP is disabled for this mailbox. In Microsoft 365, an administrator must enable it: Microsoft 365 admin center > Users > Active users > (user) > Mail > Manage email apps > IMAP (and Authenticated SMTP for sending). For Gmail: Settings > Forwarding and POP/IMAP > Enable IMAP."
        ),
        False,
    ),
    "microsoft_smtp_auth_disabled": (
        _lt(
            "SMTP AUTH is disabled for this Microsoft 365 mailbox or tenant. An administrator must enable 'Authenticated SMTP' for the user (Microsoft 365 admin center > Users > Active users > Mail > Manage email apps) and allow SMTP AUTH in the tenant (Exchange admin center)."
        ),
        False,
    ),
    "microsoft_basic_auth_disabled": (
        _lt(
            "Microsoft 365 no longer accepts passwords for IMAP/SMTP. Connect the account with 'Sign in with Microsoft' (OAuth) instead."
        ),
        False,
    ),
    "gmail_app_password_required": (
        _lt(
            "Gmail requires an app password for this account (2-Step Verification is on). Create one at myaccount.google.com/apppasswords and use it instead of the normal password, or connect with 'Sign in with Google'."
        ),
        False,
    ),
    "google_suspicious_signin": (
        _lt(
            "Google blocked the sign-in as suspicious. Sign in to Gmail in a browser, confirm the activity, then use an app password or 'Sign in with Google'."
        ),
        False,
    ),
    "yahoo_app_password": (
        _lt(
            "Yahoo Mail requires an app password for IMAP/SMTP: create one in Yahoo Account Security > Generate app password, and use it instead of your password."
        ),
        False,
    ),
    "icloud_app_password": (
        _lt(
            "iCloud Mail requires an app-specific password: create one at appleid.apple.com > Sign-In and Security > App-Specific Passwords, and use your iCloud address as the username."
        ),
        False,
    ),
    "microsoft_signin_refused": (
        _lt(
            "Microsoft 365 refused the sign-in. Check that IMAP and SMTP AUTH are enabled for the mailbox (Microsoft 365 admin center > Users > Active users > Mail > Manage email apps), that the mailbox is licensed, and that the account signed in is the mailbox owner. Then reconnect the account."
        ),
        False,
    ),
    "gmail_password_refused": (
        _lt(
            "Gmail did not accept the password. Use an app password (myaccount.google.com/apppasswords, needs 2-Step Verification) or connect with 'Sign in with Google'."
        ),
        False,
    ),
    "password_refused": (
        _lt(
            "The server did not accept the username or password. Check them; providers with two-factor authentication usually require an app password."
        ),
        False,
    ),
    "app_password_required": (
        _lt("The provider requires an app password (or OAuth) instead of the account password."),
        False,
    ),
}


def explain_fix(env, code):
    """The translated sentence of a fix code, or ``""`` for an unknown or empty code.

    :param env: an Odoo environment (its language is used).
    :param code: a code from the engine, e.g. ``"aadsts_50076"``.
    """
    if not code or code not in FIXES:
        return ""
    text, reconnect = FIXES[code]
    sentence = env._(text)
    return f"{sentence} {env._(RECONNECT)}" if reconnect else sentence
