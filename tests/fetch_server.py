"""A real HTTP server on 127.0.0.1 serving generated images and broken responses, for the fetching tests; given a
folder (`Server(root=...)`), it also serves the files in it under `/files/`. The one loopback server of the tests.
Its junk is made by the makers of `fastbird.practice` (the lesson's own loopback web) where they have one."""
import io, mimetypes, socket, struct, threading, time, http.server
from pathlib import Path
from urllib.parse import urlsplit
from PIL import Image, ImageDraw
from fastbird.practice import bomb_png, sideways_jpeg

def enc(im, fmt, **kw):
    b = io.BytesIO(); im.save(b, fmt, **kw); return b.getvalue()

def picture(color, size=(640, 480), mode='RGB'):
    "A distinct image: a coloured background with a white disc."
    im = Image.new('RGB', size, color); ImageDraw.Draw(im).ellipse([40, 40, size[0]-40, size[1]-40], fill='white')
    return im if mode=='RGB' else im.convert(mode)

def rotated_jpeg():
    "600x300 pixels, an arrow pointing left, EXIF orientation 6: viewed as 300x600 with the arrow pointing up."
    im = Image.new('RGB', (600, 300), 'navy'); d = ImageDraw.Draw(im)
    d.polygon([(60, 150), (260, 40), (260, 260)], fill='white'); d.rectangle([260, 110, 540, 190], fill='white')
    return sideways_jpeg(io.BytesIO(enc(im.transpose(Image.Transpose.ROTATE_270), 'PNG')))  # upright, stored sideways

def rgba_png():
    im = Image.new('RGBA', (300, 200), (255, 0, 0, 0)); ImageDraw.Draw(im).rectangle([0, 0, 149, 199], fill=(255, 0, 0, 255))
    return enc(im, 'PNG')

def gif_anim():
    frames = [Image.new('RGB', (120, 80), c).convert('P') for c in ('red', 'blue', 'green')]
    return enc(frames[0], 'GIF', save_all=True, append_images=frames[1:], duration=100, loop=0)

def png16():
    return enc(Image.new('I;16', (500, 300), 40000), 'PNG')

def palette_image(fmt):
    "300x200 pixels with a palette: the left half colour 0, black and marked transparent; the right half red."
    im = Image.new('P', (300, 200), 0); im.putpalette([0, 0, 0, 255, 0, 0]); im.paste(1, (150, 0, 300, 200))
    return enc(im, fmt, transparency=0)

JPEG = enc(picture('red'), 'JPEG')
KEPT = {  # path: (content type, body)
    '/photo.jpg': ('image/jpeg', JPEG),
    '/progressive.jpg': ('image/jpeg', enc(picture('orange'), 'JPEG', progressive=True)),
    '/plain.png': ('image/png', enc(picture('yellow'), 'PNG')),
    '/rgba.png': ('image/png', rgba_png()),
    '/gray.png': ('image/png', enc(picture('purple', mode='L'), 'PNG')),
    '/deep.png': ('image/png', png16()),
    '/cmyk.jpg': ('image/jpeg', enc(picture('teal', mode='CMYK'), 'JPEG')),
    '/photo.webp': ('image/webp', enc(picture('olive'), 'WEBP')),
    '/anim.gif': ('image/gif', gif_anim()),
    '/palette.png': ('image/png', palette_image('PNG')),
    '/palette.gif': ('image/gif', palette_image('GIF')),
    '/rotated.jpg': ('image/jpeg', rotated_jpeg()),
    '/noextension': ('image/jpeg', enc(picture('brown'), 'JPEG')),
    '/octet.png': ('application/octet-stream', enc(picture('pink'), 'PNG')),
    '/dup-a.jpg': ('image/jpeg', enc(picture('gold'), 'JPEG')),
    '/dup-b.jpg': ('image/jpeg', enc(picture('gold'), 'JPEG')),
}
BROKEN = {
    '/page.jpg': ('image/jpeg', b'<!DOCTYPE html><html><body><h1>Access denied</h1></body></html>'),
    '/empty.jpg': ('image/jpeg', b''),
    '/truncated.jpg': ('image/jpeg', enc(picture('green'), 'JPEG')[:4000]),
    '/drawing.svg': ('image/svg+xml', b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'),
    '/noise.jpg': ('image/jpeg', bytes(range(256))*40),
    '/bomb.png': ('image/png', bomb_png()),
    '/bomb100m.png': ('image/png', bomb_png(10000, 10000)),  # between PIL's warning and error limits: only ours stops it
}
CAP = 200_000  # the size cap the tests use

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _send(self, ctype, body, length=True):
        self.send_response(200); self.send_header('Content-Type', ctype)
        if length: self.send_header('Content-Length', str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def _fail(self, kind):
        "A passing failure: busy (503), rate-limited (429, with Retry-After), a reset connection, or a stall."
        if kind in ('503', '429'):
            self.send_response(int(kind)); self.send_header('Content-Length', '0')
            if kind=='429': self.send_header('Retry-After', '1')
            return self.end_headers()
        if kind=='reset':
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); return self.connection.close()
        time.sleep(8)  # stall: accept, then say nothing for longer than any deadline in the tests
    def do_GET(self):
        srv, p = self.server, self.path
        if p.startswith('http://'):  # asked as a proxy (the request names the whole URL): serve its path
            u = urlsplit(p); p = u.path + (f'?{u.query}' if u.query else '')
        with srv.lock: srv.hits[p] = srv.hits.get(p, 0)+1
        files = {**KEPT, **BROKEN}
        if p in files: return self._send(*files[p])
        if p.startswith('/files/') and srv.root:  # /files/REL: the file REL of the folder given to the server, as it is
            f = (srv.root/p[len('/files/'):]).resolve()
            if f.is_file() and f.is_relative_to(srv.root):
                return self._send(mimetypes.guess_type(f.name)[0] or 'application/octet-stream', f.read_bytes())
            return self.send_error(404)
        if p=='/missing.jpg': return self.send_error(404)
        if p=='/gone.jpg': return self.send_error(410)
        if p.startswith('/flaky/'):  # /flaky/TAG/KIND/N.jpg: the first answer is KIND (503, 429, reset or stall), then image N
            kind, n = p.split('/')[3], int(p.split('/')[4].split('.')[0])
            if srv.hits[p]==1: return self._fail(kind)
            return self._send('image/jpeg', enc(picture((n*53 % 256, n*17 % 256, 255-n*29 % 256), (300, 200)), 'JPEG'))
        if p.startswith('/bombs/'):  # /bombs/WxH/N.png: a tiny PNG declaring W x H pixels
            w, h = map(int, p.split('/')[2].split('x'))
            return self._send('image/png', bomb_png(w, h))
        if p=='/error.jpg': return self.send_error(500)
        if p=='/loop':
            self.send_response(302); self.send_header('Location', '/loop'); self.send_header('Content-Length', '0'); return self.end_headers()
        if p=='/slowloop':  # a redirect loop where every hop takes 0.4 s
            time.sleep(0.4)
            self.send_response(302); self.send_header('Location', '/slowloop?x' + str(srv.hits[p])); self.send_header('Content-Length', '0'); return self.end_headers()
        if p.startswith('/slowloop?'):
            time.sleep(0.4); self.send_response(302); self.send_header('Location', '/slowloop'); self.send_header('Content-Length', '0'); return self.end_headers()
        if p=='/hang.jpg': return time.sleep(30)  # accepts the connection, never answers
        if p=='/trickle.jpg':  # a byte every half second
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg'); self.send_header('Content-Length', str(len(JPEG))); self.end_headers()
            try:
                for b in JPEG[:60]: self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(0.5)
            except OSError: pass
            return
        if p=='/steady.jpg':  # 2 KB every tenth of a second: never a stall, but 5 s for the whole 100 KB
            body = JPEG + bytes(100_000-len(JPEG))
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg')
            self.send_header('Content-Length', str(len(body))); self.end_headers()
            try:
                for i in range(0, len(body), 2048):
                    self.wfile.write(body[i:i+2048]); self.wfile.flush(); time.sleep(0.1)
            except OSError: pass
            return
        if p=='/reset.jpg':  # half a body, then a TCP reset
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg'); self.send_header('Content-Length', str(len(JPEG))); self.end_headers()
            self.wfile.write(JPEG[:len(JPEG)//2]); self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); self.connection.close()
            return
        if p=='/huge.jpg': return self._send('image/jpeg', JPEG + b'\0'*(CAP*2))  # with Content-Length
        if p=='/huge-nolength.jpg':  # no Content-Length: only counting while streaming catches it
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg'); self.end_headers()
            try:
                self.wfile.write(JPEG)
                for _ in range(100): self.wfile.write(b'\0'*65536)
            except OSError: pass
            return
        if p.startswith('/slow/'):  # /slow/N.jpg: a distinct image after some latency
            n = int(p.split('/')[-1].split('.')[0]); time.sleep(srv.latency)
            return self._send('image/jpeg', enc(picture((n*37 % 256, n*91 % 256, n*13 % 256), (500, 400)), 'JPEG'))
        self.send_error(404)

class Server(http.server.ThreadingHTTPServer):
    daemon_threads, block_on_close, request_queue_size = True, False, 128
    def __init__(self, latency=0., root=None):
        super().__init__(('127.0.0.1', 0), Handler)
        self.hits, self.lock, self.latency = {}, threading.Lock(), latency
        self.root = Path(root).resolve() if root else None  # a folder served under /files/
        self.base = f'http://127.0.0.1:{self.server_port}'
    def handle_error(self, request, client_address): pass  # broken connections are the point here
    def __enter__(self): threading.Thread(target=self.serve_forever, daemon=True).start(); return self
    def __exit__(self, *a): self.shutdown(); self.server_close()

if __name__=='__main__':  # serve for a subprocess test: prints the base URL, then runs until killed
    import sys
    with Server(float(sys.argv[1]) if len(sys.argv)>1 else 0.) as s:
        print(s.base, flush=True)
        while True: time.sleep(1)
