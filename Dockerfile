# The web tier: Django under gunicorn. No torch here: the generator runs as a batch job elsewhere.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SURVEY_VAR_DIR=/data \
    DJANGO_STATIC_ROOT=/app/staticfiles

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY manage.py ./
COPY config ./config
COPY survey ./survey
COPY phantoms ./phantoms
COPY manifest ./manifest
COPY analysis ./analysis

# collectstatic needs some secret to import the settings; it is not used by anything it writes.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 --home /app survey \
 && mkdir -p /data && chown survey /data
USER survey
VOLUME /data
EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
