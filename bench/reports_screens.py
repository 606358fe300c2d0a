"""Look at the dashboard and the staff-performance report of the 1M-member bench brand
(bench/reports_data.py) in Chromium at 1440 px and 1024 px wide, served by the web server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_rep .venv/bin/python bench/reports_screens.py \\
        --password PASSWORD [--out .screens]

Signs in as the brand's admin (bench@bench.example; set its password first), opens the dashboard
(近 30 天, brand-wide and one store), the report of last month, and saves full-page screenshots.
"""

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

# The login's password hasher is the dev settings' (the test settings' would refuse it).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_orders_http import start_server, stop

ROOT = Path(__file__).resolve().parent.parent
SLUG = "benchreports"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", default=str(ROOT / ".screens"))
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    server = start_server(args.port, workers=2)
    try:
        url = f"http://{SLUG}.localhost:{args.port}"
        today = dt.date.today()
        month_end = today.replace(day=1) - dt.timedelta(days=1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP *.localhost 127.0.0.1"],
            )
            for width in (1440, 1024):
                page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
                page.set_default_timeout(120_000)
                page.goto(f"{url}/admin/login/")
                page.fill("#id_username", "bench@bench.example")
                page.fill("#id_password", args.password)
                page.click("button[type=submit], input[type=submit]")
                page.wait_for_load_state()
                shots = {
                    "dashboard-30d": "/admin/?range=30d",
                    "dashboard-store-7d": "/admin/?range=7d&store=1",
                    "report-last-month": f"/admin/performance/reportexport/report/?start={month_end.replace(day=1)}"
                    f"&end={month_end}",
                }
                for name, path in shots.items():
                    page.goto(url + path)
                    page.screenshot(path=out / f"{name}-{width}.png", full_page=True)
                    print(out / f"{name}-{width}.png", flush=True)
            browser.close()
    finally:
        stop(server)


if __name__ == "__main__":
    main()
