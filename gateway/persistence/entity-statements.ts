import type { DataSource, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';

/** `"name"`: an identifier as PostgreSQL quotes it. */
function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * One entity's hot statements written out from its TypeORM metadata, their text built once: the
 * columns to select and the entity made from a row (`hydrate`, each value as TypeORM hydrates
 * it), and the version-checked update of one row (`versionedUpdate`, the statement TypeORM's
 * update query builder writes). On the lifecycle's every step TypeORM's builder cost more CPU
 * (aliases, parameter renaming, escaping, per call) than the statement itself in the database.
 */
export class EntityStatements<T extends ObjectLiteral> {
  private readonly metadata: EntityMetadata;
  private readonly table: string;
  /** The columns read (all but virtual ones and those left out). */
  private readonly columns: ColumnMetadata[];
  private readonly updates = new Map<string, string>();
  private byIdText: string | undefined;
  private readonly whereTexts = new Map<string, string>();
  private insertText: { head: string; tail: string } | undefined;
  private insertColumns: ColumnMetadata[] | undefined;
  private returnedColumns: ColumnMetadata[] | undefined;

  constructor(
    private readonly dataSource: DataSource,
    target: EntityTarget<T>,
    /** Properties left out of what is read (large JSON a hot path does not need): absent from the entities made. */
    except: ReadonlyArray<keyof T & string> = [],
  ) {
    this.metadata = dataSource.getMetadata(target);
    this.table = quoted(this.metadata.tableName);
    this.columns = this.metadata.columns.filter((c) => !c.isVirtual && !except.includes(c.propertyName as keyof T & string));
  }

  /** The table's name, quoted. */
  get tableName(): string {
    return this.table;
  }

  /** The select list of every column of the table as `alias`, each named `prefix` + its column (`"e"."id" AS "e_id", …`). */
  select(alias: string, prefix = `${alias}_`): string {
    return this.columns.map((c) => `${quoted(alias)}.${quoted(c.databaseName)} AS ${quoted(prefix + c.databaseName)}`).join(', ');
  }

  /** The entity of a row read with `select(…, prefix)`: every column's value as TypeORM hydrates it (driver types, transformers). */
  hydrate(row: Record<string, unknown>, prefix = ''): T {
    const entity = this.metadata.create(undefined, { fromDeserializer: true }) as T;
    const driver = this.dataSource.driver;
    for (const column of this.columns) {
      const value = row[prefix + column.databaseName];
      if (value !== undefined) column.setEntityValue(entity, driver.prepareHydratedValue(value, column));
    }
    return entity;
  }

  /** The row of one id as its entity, or null: one statement, as `findOneBy({ id })` reads it. */
  async byId(id: string, db: Pick<DataSource, 'query'> = this.dataSource): Promise<T | null> {
    this.byIdText ??= `SELECT ${this.select('t', '')} FROM ${this.table} t WHERE t.${quoted(this.metadata.primaryColumns[0]!.databaseName)} = $1`;
    const [row] = (await db.query(this.byIdText, [id])) as Array<Record<string, unknown>>;
    return row ? this.hydrate(row) : null;
  }

  /**
   * The rows matching `condition` (SQL over the table as `t`, its parameters numbered from $1) as
   * entities: one prepared statement, without TypeORM's query building (`findBy` costs several
   * times its statement's CPU; the periodic rounds run these every second).
   */
  async where(condition: string, params: unknown[], db: Pick<DataSource, 'query'> = this.dataSource): Promise<T[]> {
    let text = this.whereTexts.get(condition);
    if (!text) this.whereTexts.set(condition, (text = `SELECT ${this.select('t', '')} FROM ${this.table} t WHERE ${condition}`));
    return ((await db.query(text, params)) as Array<Record<string, unknown>>).map((row) => this.hydrate(row));
  }

  /**
   * `UPDATE … SET <changes>, version + 1, updatedAt = CURRENT_TIMESTAMP WHERE id = $ AND version = $`
   * of one row (`RETURNING "id"` when `returning`), as TypeORM's update query builder writes it
   * (undefined values left out, values prepared by the driver), parameters numbered from $1.
   */
  versionedUpdate(id: string, version: number, changes: Partial<T>, returning = false): [string, unknown[]] {
    const keys = Object.keys(changes).filter((k) => changes[k] !== undefined);
    const key = `${keys.join(',')}${returning ? '|returning' : ''}`;
    const columns = keys.map((k) => this.updatable(k));
    const driver = this.dataSource.driver;
    const params: unknown[] = columns.map((c) => driver.preparePersistentValue(c.getEntityValue(changes), c));
    params.push(id, version);
    let text = this.updates.get(key);
    if (text === undefined) {
      const sets = columns.map((c, i) => `${quoted(c.databaseName)} = $${i + 1}`);
      const { versionColumn, updateDateColumn } = this.metadata;
      if (versionColumn && !columns.includes(versionColumn)) sets.push(`${quoted(versionColumn.databaseName)} = ${quoted(versionColumn.databaseName)} + 1`);
      if (updateDateColumn && !columns.includes(updateDateColumn)) sets.push(`${quoted(updateDateColumn.databaseName)} = CURRENT_TIMESTAMP`);
      const idColumn = this.metadata.primaryColumns[0]!;
      text = `UPDATE ${this.table} SET ${sets.join(', ')} WHERE ${quoted(idColumn.databaseName)} = $${columns.length + 1} AND ${quoted(versionColumn!.databaseName)} = $${columns.length + 2}${returning ? ` RETURNING ${quoted(idColumn.databaseName)}` : ''}`;
      this.updates.set(key, text);
    }
    return [text, params];
  }

  /**
   * `INSERT INTO … (every column) VALUES (…) RETURNING …` of one entity, as TypeORM's insert
   * query builder writes it: a value left undefined is the column's `DEFAULT` (the version 1),
   * values prepared by the driver, parameters numbered from `$offset + 1`; it returns what the
   * database chose (`RETURNING` the columns with a default, generated, dates and version — those
   * TypeORM reads back). `merge` puts a returned row into the entity as TypeORM does. Its text
   * may be carried by another statement (`WITH … AS (<text>)`).
   */
  insert(entity: Partial<T>, offset = 0): { text: string; params: unknown[]; merge(row: Record<string, unknown>): void } {
    const driver = this.dataSource.driver;
    const params: unknown[] = [];
    const values = this.insertable.map((c) => {
      const value = c.getEntityValue(entity);
      if (value === undefined) return c.isVersion ? '1' : 'DEFAULT';
      params.push(driver.preparePersistentValue(value, c));
      return `$${offset + params.length}`;
    });
    this.insertText ??= {
      head: `INSERT INTO ${this.table}(${this.insertable.map((c) => quoted(c.databaseName)).join(', ')}) VALUES (`,
      tail: `) RETURNING ${this.returned.map((c) => quoted(c.databaseName)).join(', ')}`,
    };
    return {
      text: `${this.insertText.head}${values.join(', ')}${this.insertText.tail}`,
      params,
      merge: (row) => {
        for (const column of this.returned) {
          const value = row[column.databaseName];
          if (value !== undefined) column.setEntityValue(entity as T, driver.prepareHydratedValue(value, column));
        }
      },
    };
  }

  /** The columns an insert writes: all but virtual ones. */
  private get insertable(): ColumnMetadata[] {
    return (this.insertColumns ??= this.metadata.columns.filter((c) => !c.isVirtual && c.isInsert));
  }

  /** The columns an insert reads back, as TypeORM does (`getInsertionReturningColumns`). */
  private get returned(): ColumnMetadata[] {
    return (this.returnedColumns ??= this.metadata.getInsertionReturningColumns());
  }

  /** The plain column a property is written to; anything else (a relation, a column that is not updated) is refused. */
  private updatable(property: string): ColumnMetadata {
    const column = this.metadata.findColumnWithPropertyName(property);
    if (!column || column.relationMetadata || column.referencedColumn || column.embeddedMetadata || !column.isUpdate || column.isVirtual) {
      throw new Error(`${this.metadata.name}.${property} is not a plain column a versioned update writes`);
    }
    return column;
  }
}
