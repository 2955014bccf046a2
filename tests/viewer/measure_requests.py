"""Requests the static viewer makes against the static test host, page by page (the README figures).

    ngffstore demo /tmp/demo --size 512 && ngffstore view /tmp/demo
    python tests/viewer/measure_requests.py /tmp/demo

Needs the Debian package chromium and the playwright Python package (the test extra).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from httpserver import StaticHTTPServer
from playwright.sync_api import sync_playwright

srv = StaticHTTPServer(sys.argv[1]).start()
with sync_playwright() as p:
    b = p.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox','--disable-gpu'])
    for name, route, size, wait in [
        ("catalogue", "", (1200, 3000), "[...document.querySelectorAll('.ngff-thumb')].length > 0 && [...document.querySelectorAll('.ngff-thumb')].every(c => c.dataset.state === 'ready')"),
        ("image page (1200x900)", "#/image/cells.ome.zarr", (1200, 900), "document.querySelector('.ngff-map')?.dataset.state === 'ready' && document.querySelector('.ngff-roi-panel')?.dataset.loaded === '2'"),
        ("image page (600x520)", "#/image/cells.ome.zarr", (600, 520), "document.querySelector('.ngff-map')?.dataset.state === 'ready' && document.querySelector('.ngff-roi-panel')?.dataset.loaded === '2'"),
        ("plate page", "#/plate/plate.ome.zarr", (1200, 900), "document.querySelector('.ngff-map')?.dataset.state === 'ready'"),
    ]:
        ctx = b.new_context(viewport={'width': size[0], 'height': size[1]})
        pg = ctx.new_page()
        with srv.count() as log:
            pg.goto(srv.url + '/index.html' + route)
            pg.wait_for_function(wait, timeout=30000)
        kinds = {}
        for path in log.paths():
            k = 'page+assets' if path.startswith(('/index.html', '/ngffstore-viewer')) else 'index' if path.endswith('.parquet') and 'rois' not in path else 'ROI files' if 'rois/' in path else 'documents' if path.endswith(('zarr.json', '.zattrs', '.zarray')) else 'chunks'
            kinds[k] = kinds.get(k, 0) + 1
        print(f"{name}: {len(log)} GETs {kinds}")
        ctx.close()
    b.close()
srv.stop()
