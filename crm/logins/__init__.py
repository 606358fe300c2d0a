"""Login protection for both back offices: failed logins counted and locked out by django-axes in
the schema where the user lives, the 登录锁定 page to unlock a username, the lockout page, and how
long an admin session lasts."""
