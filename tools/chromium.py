"""The headless Chromium every browser check here drives with Selenium (the docs page check, the browser page's and the
app's tests, the browser bench, the app screenshots): the Debian `chromium` and its `chromedriver`, never a downloaded
one."""
import shutil, sys, tempfile

BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']

def find_browser():
    "Path of a Chromium-like browser and of its driver, or a clear error saying how to get them."
    b = next((p for n in BROWSERS if (p := shutil.which(n))), None)
    d = shutil.which('chromedriver')
    if not (b and d): sys.exit("no Chromium or chromedriver found. Install them (Debian: `apt-get install chromium "
                               "chromium-driver`, or `make browser`) and run again.")
    return b, d

def chromium(width:int=1100, # the window's size, in CSS pixels
             height:int=900,
             downloads=None, # a folder: files the page downloads land there, without asking
             args:tuple=(), # more command-line switches for Chromium
             browser:tuple=None # (browser, driver) paths; by default `find_browser()`'s
            ):
    "A headless Chromium, driven by Selenium's `webdriver.Chrome`; quit it when done."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    binary, driver = browser or find_browser()
    o = webdriver.ChromeOptions(); o.binary_location = binary
    for a in ['--headless=new', '--no-sandbox', '--disable-gpu', f'--window-size={width},{height}',
              f'--user-data-dir={tempfile.mkdtemp()}', *args]: o.add_argument(a)
    if downloads: o.add_experimental_option('prefs', {'download.default_directory': str(downloads),
                                                      'download.prompt_for_download': False})
    return webdriver.Chrome(service=Service(driver), options=o)
