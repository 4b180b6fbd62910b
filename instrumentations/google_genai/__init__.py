"""Google Gen AI (``google-genai``, ``from google import genai``): Gemini Developer API and Vertex AI.

``google_genai.py`` holds ``google_genai_patcher`` (what is patched, and why the private
per-request methods), ``extract.py`` the extractors, ``streaming.py`` the stream
accumulator, ``credentials.py`` the client's secrets, ``afc.py`` the automatic function
calling spans (the loop's parent span and one ``execute_tool`` span per function run).
"""

from .google_genai import google_genai_patcher

__all__ = ["google_genai_patcher"]
